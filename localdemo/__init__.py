"""VetROI's local demo environment: the whole platform on one machine, offline.

`python -m localdemo` (or `make demo`) starts moto's server as local AWS, the O*NET stand-in,
two regions serving the deployment package and the edge on http://127.0.0.1:8000, and keeps
them running until interrupted. `python -m localdemo.drill` runs the fault matrix.
"""
