#!version:1.0.0.1
## Boot file for {{ model }} {{ mac_lower }}: the family file, then this phone's own file.
include:config "{{ common_file }}"
include:config "{{ mac_lower }}.cfg"
overwrite_mode = 1
