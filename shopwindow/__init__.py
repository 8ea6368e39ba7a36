"""What the materializer and the gateway share: settings, topics, the document contract."""
