"""WebSocket consumers for the clinic: consultation chat and SOS. Close codes 4000-4999 are
ours: 4401 not signed in, 4403 not allowed here, 4410 the room is closed."""
