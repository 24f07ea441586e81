#!version:1.0.0.1
## Common boot file: only phones this server does not know get it (known ones have <mac>.boot).
include:config "y000000000000.cfg"
overwrite_mode = 1
