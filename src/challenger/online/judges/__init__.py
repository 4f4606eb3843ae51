"""The online judges, one module per strategy: live evidence in, an ``OnlineDecision`` out.

``shadow`` (a shadow model against the champion on the same requests), ``ab`` (an A/B test of
two arms of users) and ``canary`` (one stage of a staged rollout). Each is a pure function of
frames of the prediction log and its section of the ``rollout`` configuration.
"""
