"""Entry point of the console's loader process (see console.data.ProcessLoader)."""

from console.data import child_main

if __name__ == "__main__":
    child_main()
