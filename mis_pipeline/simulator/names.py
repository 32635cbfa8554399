"""Name pools for the synthetic population.

The non-ASCII and apostrophe names are deliberate: they catch clients and warehouses that
mangle UTF-8, escape badly or strip punctuation.
"""

MALE_FORENAMES = (
    "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Muhammad", "Oscar", "Charlie",
    "Jacob", "Thomas", "Henry", "William", "Alfie", "Joshua", "Freddie", "Archie", "Ethan", "Isaac",
    "Alexander", "Joseph", "Edward", "Samuel", "Max", "Daniel", "Arlo", "Lucas", "Mohammed", "Reuben",
)
FEMALE_FORENAMES = (
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia",
    "Grace", "Willow", "Freya", "Florence", "Emily", "Ella", "Poppy", "Evie", "Elsie", "Charlotte",
    "Evelyn", "Sienna", "Sofia", "Daisy", "Phoebe", "Harper", "Alice", "Matilda", "Aisha", "Maryam",
)
NON_ASCII_MALE_FORENAMES = ("José", "Łukasz", "Jürgen", "Søren", "Ciarán", "Oisín", "Rubén", "Nicolás", "François", "Tomáš")
NON_ASCII_FEMALE_FORENAMES = ("Zoë", "Siobhán", "Chloé", "Renée", "Anaïs", "Małgorzata", "Aoife-Áine", "Inés", "Léa", "Björk")
SURNAMES = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
    "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
    "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill",
    "Ward", "Morris", "Moore", "Clark", "Khan", "Begum", "Ali", "Hussain", "Shah", "Baker",
)
# Apostrophes and hyphens are ASCII but still trip naive quoting; the rest are non-ASCII.
UNUSUAL_SURNAMES = (
    "O'Connor", "D'Souza", "O'Brien", "Smith-Jones", "Nguyễn", "Ångström", "Kowalczyk-Wójcik",
    "Müller", "Núñez", "Ó Súilleabháin", "Øster", "Şahin", "Lê", "Dvořák", "García",
)
# Preferred forms that differ from the legal forename, so legal_* and preferred names diverge.
PREFERRED_FORMS = {
    "William": "Will", "Alexander": "Alex", "Thomas": "Tom", "Joseph": "Joe", "Samuel": "Sam",
    "Daniel": "Dan", "Charlotte": "Lottie", "Isabella": "Bella", "Florence": "Flo", "Matilda": "Tilly",
}
SCHOOL_PLACES = (
    "Ashfield", "Beechwood", "Brookside", "Castleton", "Elmhurst", "Fairfield", "Greenacre", "Hawthorn",
    "Highfield", "Kingsmead", "Larkrise", "Meadowbank", "Millbrook", "Oakwood", "Parkside", "Queensbury",
    "Riverside", "St Aidan's", "St Mary's", "Thornbury", "Westfield", "Willowbrook", "Woodlands", "Yewtree",
)
SCHOOL_KINDS = {
    "PRIMARY": ("Primary School", "Church of England Primary School", "Primary Academy", "Infant and Junior School"),
    "SECONDARY": ("Academy", "High School", "School", "Community College"),
    "ALL THROUGH": ("All-Through School", "Academy"),
}
