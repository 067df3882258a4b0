"""Everything that talks to Meta: the Graph API client, webhook signatures and parsing, and the
local Graph API simulator. Nothing here imports Django models."""
