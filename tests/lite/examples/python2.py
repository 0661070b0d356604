# Python 2.7
from __future__ import print_function
from datacat import create_session

session = create_session()
session.update_state({"version": "2.7"})
print("Session ID:", session.session_id)
