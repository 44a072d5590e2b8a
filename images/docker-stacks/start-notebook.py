#!/opt/venv/bin/python3
"""Like docker-stacks' start-notebook.py: under a JupyterHub (JUPYTERHUB_API_TOKEN is in the
environment, even empty) run the single-user server, else plain JupyterLab."""
import os
import sys

if "JUPYTERHUB_API_TOKEN" in os.environ:
    os.execvp("start-singleuser.py", ["start-singleuser.py", *sys.argv[1:]])
command = os.environ.get("DOCKER_STACKS_JUPYTER_CMD", "lab")
os.execvp("jupyter", ["jupyter", command, *sys.argv[1:]])
