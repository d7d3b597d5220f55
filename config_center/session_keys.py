"""What the console's signed session cookie holds: the name of the logged-in
user. The REST API, the console pages and the live websocket all read it."""

SESSION_USER = "config_center_user"
