"""What a site shows its visitors: the site registry, the vendor catalogue and custom vendors, configuration versions, the cookie declaration."""
