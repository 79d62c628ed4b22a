"""Security hygiene: network scans and findings, link scanning, protection coverage,
awareness campaigns and the register of temporary fixes."""
