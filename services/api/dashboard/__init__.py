"""The web dashboard served by the API: server-rendered page shells (Jinja2), one small
script and one style sheet, no build step. Data comes from the authenticated JSON routes
(services/api/routes/dashboard.py); charts are inline SVG drawn by the script."""
