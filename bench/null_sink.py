"""The baseline: a stock aiosmtpd SMTP server that answers 250 to everything
and keeps nothing. usage: python bench/null_sink.py PORT"""

import asyncio
import sys

from aiosmtpd.smtp import SMTP


class NullHandler:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(NullHandler(), hostname="null.example", data_size_limit=50 * 1024 * 1024, loop=loop),
        "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
