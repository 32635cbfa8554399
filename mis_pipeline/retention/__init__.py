"""Retention: when named pupil data must go, the purges that remove it, and the 5-year limit on
what remains un-named."""
