session = create_session()
session.update_state({"app": "myapp", "status": "starting"})
session.log_event("startup", {"version": "1.0.0"})
session.log_metric("startup_time", 2.5)

# During execution
session.update_state({"status": "running"})
session.log_metric("requests_per_second", 1000)

# On shutdown
session.log_event("shutdown")
session.update_state({"status": "stopped"})
