#!/usr/bin/env python3
"""tests/firmware/rom-checksum.py — sets the last byte of a legacy option ROM image so that all its bytes
add up to 0 mod 256 (the checksum BIOSes check before they run a ROM).

    rom-checksum.py IN OUT

IN must start with 55 AA, be as long as its size byte says (512-byte blocks) and end in a 0 byte (the
place kept for the checksum). Exit status 1 with one line on stderr otherwise.
"""
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: rom-checksum.py IN OUT")
    with open(sys.argv[1], "rb") as f:
        rom = bytearray(f.read())
    if len(rom) < 3 or rom[:2] != b"\x55\xaa" or len(rom) != rom[2] * 512 or rom[-1] != 0:
        sys.exit("%s: not an option ROM of size byte * 512 bytes ending in a 0 checksum byte" % sys.argv[1])
    rom[-1] = -sum(rom) & 0xff
    with open(sys.argv[2], "wb") as f:
        f.write(rom)


if __name__ == "__main__":
    main()
