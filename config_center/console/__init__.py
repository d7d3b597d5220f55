"""The web console: server-rendered pages over the config service.

Every page works without JavaScript (plain forms, POST then redirect);
``static/console/`` adds the editor, validation as you type and live
updates over the websocket. Views here are thin: they read the request,
call ``ConfigService`` on the node's loop (they are async views, so they run
on it), and render. Who may do what is decided by the service, never here:
the templates hide controls a user may not use, and the service refuses
them anyway.
"""
