"""The baselines: what a team gets from Nameko out of the box, measured beside the system.

hello.service  GET /hello: a bare @http endpoint returning a constant.
plain.service  GET /plain: a bare @http endpoint making one call through Nameko's stock
               RpcProxy to a bare service returning a constant.
"""

from nameko.rpc import RpcProxy, rpc
from nameko.web.handlers import http


class HelloService:
    name = "bench_hello"

    @http("GET", "/hello")
    def hello(self, request):
        return "hello"


class ConstantService:
    name = "bench_constant"

    @rpc
    def get(self):
        return "constant"


class PlainRpcService:
    name = "bench_plain"

    constant = RpcProxy("bench_constant")

    @http("GET", "/plain")
    def plain(self, request):
        return self.constant.get()
