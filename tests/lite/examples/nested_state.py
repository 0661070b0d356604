from datacat import create_session

session = create_session()

# Set initial nested state
session.update_state({
    "window_state": {
        "open": ["window 1", "window 2"],
        "active": "window 1"
    },
    "memory": {
        "footprint_mb": 50.2
    },
    "settings": {
        "theme": "dark"
    }
})

# Partial update - only changes window_state.open
# Preserves window_state.active and all other state
session.update_state({
    "window_state": {
        "open": ["window 1", "window 2", "window 3"]
    }
})

# Update different part of state
session.update_state({
    "memory": {
        "footprint_mb": 75.5
    }
})
