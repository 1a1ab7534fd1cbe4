"""One router per user group; each route authorises through services.api.auth and hands the
work to services.api.handlers."""
