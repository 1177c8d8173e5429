"""Media fraud scoring that reads the pixels: decode guard, prescreen, OCR, QR codes, known images."""
