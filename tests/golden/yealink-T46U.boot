#!version:1.0.0.1
## Boot file for T46U 805ec0abcdef: the family file, then this phone's own file.
include:config "y000000000108.cfg"
include:config "805ec0abcdef.cfg"
overwrite_mode = 1
