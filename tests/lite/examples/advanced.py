from datacat import DatacatClient, Session

# Create client
client = DatacatClient("http://localhost:8080")

# Register a session manually
session_id = client.register_session()

# Create session object
session = Session(client, session_id)

# Use session methods
session.update_state({"phase": "initialization"})
session.log_event("initialization_complete")
session.log_metric("init_time", 1.234)

# Get all sessions (for monitoring/debugging)
all_sessions = client.get_all_sessions()
