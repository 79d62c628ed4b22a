"""The register of temporary fixes: services, reminders, and evidence from scans."""
