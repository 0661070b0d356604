# Minimal on purpose: Python 2.7's pip (setuptools 41) and any Python 3 pip install this.
from setuptools import setup

setup()
