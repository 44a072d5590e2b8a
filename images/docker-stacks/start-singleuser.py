#!/opt/venv/bin/python3
"""Like docker-stacks' start-singleuser.py: exec jupyterhub-singleuser with the arguments."""
import os
import sys

os.execvp("jupyterhub-singleuser", ["jupyterhub-singleuser", *sys.argv[1:]])
