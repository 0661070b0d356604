from datacat import create_session

# Create a new session
session = create_session("http://localhost:8080")

# Update state
session.update_state({"status": "running", "progress": 0})

# Log events
session.log_event("started", {"user": "alice"})

# Log metrics
session.log_metric("cpu_usage", 45.2, tags=["host:server1"])

# Get session details
details = session.get_details()
print(details)
