"""The HTTP API for careers teams, employers and students (FastAPI).

app = create_app(settings, db, BrokerPublisher(settings))
"""

from services.api.app import create_app
from services.api.publisher import BrokerPublisher, Publisher

__all__ = ["BrokerPublisher", "Publisher", "create_app"]
