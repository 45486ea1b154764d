"""What Visitt keeps: the database, its tables and migrations, and the audit trail."""
