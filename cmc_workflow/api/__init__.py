"""The HTTP API (issue 15): every public :class:`~cmc_workflow.engine.Engine` operation,
the query API, the report, the compliance matrix, the calendar arithmetic and ``who-can``
over HTTP, for host systems that are not Python.

Built on FastAPI (pydantic models, a generated OpenAPI document) over Starlette, served by
uvicorn (``cmc-workflow serve``); install the ``api`` extra. The modules:

- :mod:`.app` – :func:`~cmc_workflow.api.app.create_app`, the routes (blocking engine
  calls run in the threadpool; one engine per process);
- :mod:`.models` – the request and response bodies (unknown fields refused);
- :mod:`.shapes` – engine values to bodies, ETags and ``If-Match``, query filters;
- :mod:`.problems` – errors as RFC 9457 problem documents, in Chinese or English;
- :mod:`.tokens` – API tokens: issued, stored hashed, checked in constant time, revoked
  (no web framework: ``cmc-workflow token`` uses it without the ``api`` extra);
- :mod:`.identity` – the seam that turns a token and a request into an
  :class:`~cmc_workflow.model.Actor`;
- :mod:`.guards` – the request size limit and the rate limit of failed sign-ins.

The HTTP layer decides nothing: every command goes through the engine and its policies,
exactly as a Python caller's would.
"""
