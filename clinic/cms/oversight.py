"""CMS oversight screens: appointments, deliveries and emergency (break-the-glass) access."""
