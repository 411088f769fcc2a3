"""Stand-ins for the services ctsync talks to, run on loopback by the tests.

Import from the module (``from tests.fakes.segment import FakeSegment``): this
package stays empty so ``python -m tests.fakes.segment`` runs the module once.
"""
