"""VetROI's API: the code that runs inside the Lambda functions.

`vetroi_api.handlers` holds the entry points. The modules beside it are one concern each:
`config` (settings read from the environment), `http` (events in, responses out, CORS),
`routes` (what each route does), `onet` (the O*NET client with retries and a breaker),
`cache` (the DynamoDB cache and the fallback chain), `static` (the bundled data), `aws`
(clients created once per container), `tracing` (X-Ray subsegments), `logs` (JSON log lines).
"""
