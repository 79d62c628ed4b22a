"""Network scans: agent results and nmap imports, compared with the site's inventory."""
