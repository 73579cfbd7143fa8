"""The doors other than import, guarded inside Glance's own dispatch:
``routes`` classifies every call of Glance's v2 API, ``resource`` puts
the guard into Glance's router, ``checks`` decides at each door,
``precheck`` checks a glance-download before Glance downloads it."""
