"""The service layer: handlers and the batch unit of work between the messages and the engine."""
