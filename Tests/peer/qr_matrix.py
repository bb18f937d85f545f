#!/usr/bin/env python3
"""Prints the modules of a QR code made by python-qrcode (an independent encoder): byte mode,
level M, the given version and mask; one line per row, 1 for dark.
Usage: qr_matrix.py HEX VERSION MASK"""
import sys

import qrcode
from qrcode.util import MODE_8BIT_BYTE, QRData

data = bytes.fromhex(sys.argv[1])
q = qrcode.QRCode(version=int(sys.argv[2]), error_correction=qrcode.constants.ERROR_CORRECT_M,
                  mask_pattern=int(sys.argv[3]), border=0)
q.add_data(QRData(data, mode=MODE_8BIT_BYTE))
q.make(fit=False)
for row in q.get_matrix():
    print("".join("1" if b else "0" for b in row))
