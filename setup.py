from setuptools import find_packages, setup

# The Dagster family is pinned together: newer dagster has no matching webserver, and an
# unpinned resolve can backtrack for many minutes.
DAGSTER = [
    "dagster==1.13.27",
    "dagster-postgres==0.29.27",
    "dagster-pandera==0.29.27",
    "dagster-celery==0.29.27",  # the sync job on Celery workers (deploy/)
]

setup(
    name="mis-pipeline",
    version="0.1.0",
    description="Pupil data from school MIS connectors, scoped, shared and retained by agreement.",
    python_requires=">=3.11,<3.12",
    packages=find_packages(exclude=["mis_pipeline_tests", "mis_pipeline_tests.*"]),
    package_data={"mis_pipeline": ["warehouse/migrations/*.ini", "warehouse/migrations/*.mako"]},
    include_package_data=True,
    install_requires=[
        *DAGSTER,
        "pandas>=2.2,<3",
        "pandera[pandas]>=0.24,<0.36",
        "SQLAlchemy>=2.0,<2.2",
        "alembic>=1.13,<2",
        "psycopg[binary]>=3.2,<4",
        "psycopg2-binary>=2.9,<3",
        "requests>=2.32,<3",
        "orjson>=3.10,<4",
        "urllib3>=2.2,<3",
        "python-dateutil>=2.9,<3",
        "cryptography>=43",
        "reportlab>=4.2,<6",  # the audit report and subject access reports as PDF
        "pyarrow>=15",  # Parquet files in partner shares
    ],
    extras_require={
        "dev": [
            "dagster-webserver==1.13.27",
            "pytest>=8,<10",
            "pytest-timeout>=2.3",
            "hypothesis>=6.100",
            "pypdf>=5,<8",  # tests read the PDFs back
        ],
    },
    entry_points={"console_scripts": ["mis-pipeline=mis_pipeline.cli.main:console"]},
)
