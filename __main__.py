"""VetROI: one regional copy of the API per stack, prod (primary) and backup.

Reads the stack's settings, composes the components and exports what operators and the other
stack need.
"""

import pulumi

from components import settings as stack_settings

settings = stack_settings.load()

pulumi.export("role", settings.role)
pulumi.export("region", settings.region)
