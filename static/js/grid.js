// Arrow keys for the availability grid (a roving tabindex). Without this file every free
// slot is an ordinary link reached with Tab and opened with Enter; with it, Tab enters the
// table once (at the first free slot) and the arrow keys, Home and End move between cells,
// so a keyboard user does not have to tab through every slot of the day.
(function () {
  "use strict";

  function cellsOf(table) {
    return Array.prototype.map.call(table.querySelectorAll("tbody tr"), function (row) {
      return Array.prototype.filter.call(row.children, function (cell) {
        return cell.tagName === "TD";
      });
    }).filter(function (row) { return row.length > 0; });
  }

  // The element that takes the focus for a cell: its link, or the cell itself.
  function target(cell) {
    return cell.querySelector("a") || cell;
  }

  function setup(table) {
    var rows = cellsOf(table);
    if (!rows.length) { return; }
    var all = [];
    rows.forEach(function (row) { row.forEach(function (cell) { all.push(cell); }); });
    all.forEach(function (cell) { target(cell).setAttribute("tabindex", "-1"); });
    var start = all.filter(function (cell) { return cell.classList.contains("cell-free"); })[0] ||
      all.filter(function (cell) { return cell.querySelector("a"); })[0] || all[0];
    var current = target(start);
    current.setAttribute("tabindex", "0");

    function move(to) {
      if (!to) { return; }
      current.setAttribute("tabindex", "-1");
      current = target(to);
      current.setAttribute("tabindex", "0");
      current.focus();
    }

    table.addEventListener("focusin", function (event) {
      // A click or a programmatic focus inside the grid makes that cell the current one.
      var cell = event.target.closest("td");
      if (cell && target(cell) === event.target && event.target !== current) {
        current.setAttribute("tabindex", "-1");
        current = event.target;
        current.setAttribute("tabindex", "0");
      }
    });

    table.addEventListener("keydown", function (event) {
      var cell = event.target.closest("td");
      if (!cell || event.altKey || event.ctrlKey || event.metaKey) { return; }
      var r = -1, c = -1;
      rows.forEach(function (row, i) {
        var j = row.indexOf(cell);
        if (j >= 0) { r = i; c = j; }
      });
      if (r < 0) { return; }
      var next = null;
      switch (event.key) {
        case "ArrowRight": next = rows[r][c + 1]; break;
        case "ArrowLeft": next = rows[r][c - 1]; break;
        case "ArrowDown": next = rows[r + 1] && rows[r + 1][Math.min(c, rows[r + 1].length - 1)]; break;
        case "ArrowUp": next = rows[r - 1] && rows[r - 1][Math.min(c, rows[r - 1].length - 1)]; break;
        case "Home": next = rows[r][0]; break;
        case "End": next = rows[r][rows[r].length - 1]; break;
        default: return;
      }
      event.preventDefault();
      move(next);
    });
  }

  document.querySelectorAll("table[data-grid]").forEach(setup);
})();
