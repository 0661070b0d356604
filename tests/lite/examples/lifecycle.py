session = create_session()

# Log session start
session.log_event("session_started", {"user": "alice"})

# Do work...
session.update_state({"status": "running"})

# End session properly
session.log_event("session_ending")
session.end()
