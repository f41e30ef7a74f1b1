"""Credit review: loan applications and what Xiaoshen checks them against."""
