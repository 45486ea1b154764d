"""Messages to patients and staff: SMS, e-mail with calendar files, the durable outbox, reminders."""
