"""The live room: sockets, the waiting room, the call, presence, and the nodes that hold them."""
