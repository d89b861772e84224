"""qa_service: automatic quality inspection (智能质检) of Chinese customer-service conversations."""

__version__ = "0.1.0"
