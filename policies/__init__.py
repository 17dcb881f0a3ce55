"""Policy as code: the platform's rules, checked by `pulumi preview` and offline by `make plan`."""
