"""What the console's signed session cookie holds: the name of the logged-in
user and the secret of the session (``service.sessions``), which the store
must still hold for the cookie to be worth anything. The REST API, the
console pages and the live websocket all read it."""

SESSION_USER = "config_center_user"
SESSION_SECRET = "config_center_session"
