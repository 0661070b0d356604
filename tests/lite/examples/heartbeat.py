from datacat import create_session
import time

session = create_session()

# Start heartbeat monitor (default: 60 second timeout)
session.start_heartbeat_monitor(timeout=60, check_interval=5)

# Your application loop
while running:
    # Send heartbeat to indicate app is alive
    session.heartbeat()
    
    # Do work...
    do_work()
    
    time.sleep(1)

# End session normally
session.end()
