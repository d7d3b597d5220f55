"""The REST API, ``/api/v1/``: DRF views that authenticate the caller,
read the request, call ``ConfigService`` and render what it returns.
The rules live in ``config_center.service``; nothing here decides them."""
