"""Running challenger on this machine: `challenger up` and `challenger down`."""
